"""The turn log: the one owner of the ``turns`` table and every query on it.

- ``table``: the table, a record's row and back, the shared predicates (``has_flag``, ``beyond``);
- ``log``: :class:`TurnLog`, the writer (and feedback);
- ``reviews``: the auditors' ``reviews`` table, and the reviewed turns of the gold set;
- ``listing``: the review filters and keyset paging;
- ``conversations``: a conversation's turns, a turn and its neighbours;
- ``windows``: the turns of a time window (statistics, drift) and recent shopper messages.

Other modules ask these; none builds a query on ``turns`` itself.
"""

from monitoring.turnlog.log import TurnLog
from monitoring.turnlog.table import metadata, record_from_row, record_of, row_of, turns

__all__ = ["TurnLog", "metadata", "record_from_row", "record_of", "row_of", "turns"]
