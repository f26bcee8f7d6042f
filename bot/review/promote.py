"""Promote a reviewed turn into the knowledge, list and undo the changes (auditors).

A promoted question answers live within seconds (``bot.engine.corrections``) and is learnt by
the router at the next ``shopbot train``; every change is versioned and can be undone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.guard import Role, requires
from bot.engine.corrections import LiveCorrections
from bot.serving.engine import CORRECTIONS
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.turnlog import RECORDS, REVIEW_STORE, SINK
from bot.web.auth import current_user
from bot.web.body import read_json
from bot.web.openapi import operation
from core.errors import BadRequest, NotFound, PersonalData
from retrieval.corrections import ChangeKind, KnowledgeChange, new_entry_id

TAGS = ("review",)
# At most 18 digits: every such id fits the database's 64-bit integers.
CHANGE_ID = r"[0-9]{1,18}"
MAX_ANSWER = 4000


class PromoteBody(BaseModel):
    """Without ``entry_id``: a new FAQ entry answering ``answer`` (default: the review's correction).

    With ``entry_id``: the question becomes one more phrasing of that entry.
    """

    model_config = ConfigDict(extra="forbid")

    entry_id: str | None = Field(default=None, min_length=1, max_length=128)
    answer: str | None = Field(default=None, min_length=1, max_length=MAX_ANSWER)


class ChangeOut(BaseModel):
    """One knowledge change."""

    id: int
    kind: ChangeKind
    entry_id: str
    question: str
    answer: str | None
    turn_id: str | None
    created_by: str
    created_at: str
    active: bool
    undone_by: str | None
    undone_at: str | None


class ChangeList(BaseModel):
    """Every change, oldest first."""

    changes: list[ChangeOut]


class EntryOut(BaseModel):
    """A knowledge entry a question can be added to."""

    id: str
    answer: str | None
    questions: list[str]


class EntryList(BaseModel):
    """The knowledge as the bot answers it now."""

    entries: list[EntryOut]


def _entry_ids(app: Mapping[Any, Any], live: LiveCorrections) -> set[str]:
    return set(app[KNOWLEDGE].entries) | {c.entry_id for c in live.active}


@operation("Promote a turn into the knowledge", request_body=PromoteBody, response=ChangeOut, status=201,
           tags=TAGS, body_required=False,
           responses={400: "the answer holds personal data", 404: "no such turn or entry"},
           description="Adds the shopper's (redacted) question as a new FAQ entry with the "
                       "corrected answer, or as a new phrasing of an existing entry. Live in seconds.")
@requires(Role.AUDITOR)
async def promote(request: web.Request) -> web.Response:
    """Add a reviewed question to the knowledge; the bot answers it at once."""
    body = await read_json(request, PromoteBody, empty=PromoteBody())
    app = request.config_dict
    live = app[CORRECTIONS]
    turn_id = request.match_info["turn_id"]
    store = app[REVIEW_STORE]
    await app[SINK].flushed()
    detail = await asyncio.to_thread(store.turn_detail, turn_id, 0)
    if detail is None:
        raise NotFound("no such turn")
    question = detail.turn.record.user_text.strip()
    if not question:
        raise BadRequest("this turn has no shopper question to promote")
    by = current_user(request).username
    if body.entry_id is not None:
        if body.entry_id not in _entry_ids(app, live):
            raise NotFound(f"no knowledge entry {body.entry_id!r}")
        change = await asyncio.to_thread(live.store.add, ChangeKind.NEW_PHRASING, body.entry_id, question,
                                         None, turn_id=turn_id, by=by)
    else:
        review = detail.reviews[0] if detail.reviews else None
        answer = body.answer or (review.correction if review else None)
        if not answer:
            raise BadRequest("give an 'answer', or review the turn with a correction first")
        await _refuse_personal(app, answer)
        entry_id = new_entry_id(question, _entry_ids(app, live))
        change = await asyncio.to_thread(live.store.add, ChangeKind.NEW_ENTRY, entry_id, question, answer,
                                         turn_id=turn_id, by=by)
    await live.refresh(force=True)
    return web.json_response(change.to_json(), status=201)


# A placeholder left by redaction ("[EMAIL]") means the correction held personal data: shoppers
# would read the placeholder, so it is refused like the data itself.
_PLACEHOLDER = re.compile(
    r"\[(EMAIL|PHONE|CARD|IBAN|SORT_CODE|ACCOUNT|POSTCODE|ADDRESS|NI_NUMBER|DOB|NAME)\]")


async def _refuse_personal(app: Mapping[Any, Any], answer: str) -> None:
    """Raise :class:`PersonalData` when ``answer`` holds personal data other than the shop's own."""
    # The redactor may run the NER model: inference off the event loop.
    kinds = set(await asyncio.to_thread(app[RECORDS].redactor.personal, answer))
    kinds |= set(_PLACEHOLDER.findall(answer))
    if kinds:
        names = ", ".join(k.lower().replace("_", " ") for k in sorted(kinds))
        raise PersonalData(f"the answer holds personal data ({names}); every shopper would read it. "
                           "Only the shop's own public contact details may appear in an answer")


@operation("List knowledge changes", response=ChangeList, tags=TAGS)
@requires(Role.AUDITOR)
async def list_changes(request: web.Request) -> web.Response:
    """Every promoted change, undone ones included."""
    changes: list[KnowledgeChange] = await asyncio.to_thread(request.config_dict[CORRECTIONS].store.list)
    return web.json_response({"changes": [c.to_json() for c in changes]})


@operation("Undo a knowledge change", response=ChangeOut, tags=TAGS,
           responses={404: "no such change", 409: "already undone"})
@requires(Role.AUDITOR)
async def undo(request: web.Request) -> web.Response:
    """Withdraw a change; the bot stops answering from it at once."""
    change_id = int(request.match_info["change_id"])
    live = request.config_dict[CORRECTIONS]
    change = await asyncio.to_thread(live.store.undo, change_id, current_user(request).username)
    await live.refresh(force=True)
    return web.json_response(change.to_json())


@operation("Knowledge entries", response=EntryList, tags=TAGS,
           description="The FAQ entries and intents the bot answers from, promoted entries included.")
@requires(Role.AUDITOR)
async def entries(request: web.Request) -> web.Response:
    """What a promoted question can be attached to."""
    live = request.config_dict[CORRECTIONS]
    known = [*request.config_dict[KNOWLEDGE].entries.values(),
             *(e for c in live.active if (e := live.entry(c.entry_id)) is not None)]
    seen: set[str] = set()
    out = []
    for e in known:
        if e.id not in seen:
            seen.add(e.id)
            out.append({"id": e.id, "answer": e.answer, "questions": list(e.questions)})
    return web.json_response({"entries": out})
