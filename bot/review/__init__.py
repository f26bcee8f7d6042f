"""The auditors' side: reviews of logged turns, statistics, and promoting corrections into the knowledge."""
