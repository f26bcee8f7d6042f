"""The turn log: its record factory, its background writer and its readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from bot.serving.knowledge import KNOWLEDGE
from bot.web.keys import ENGINE, JOURNAL, METRICS, SETTINGS
from monitoring.flags import FlagThresholds
from monitoring.journal import TurnJournal
from monitoring.names import NameFinder, ProductWords
from monitoring.ner import SpacyTagger
from monitoring.records import RecordFactory
from monitoring.redact import public_details
from monitoring.reviews import ReviewStore
from monitoring.sink import TurnLogSink
from monitoring.transcripts import Transcripts
from monitoring.turnlog import TurnLog

RECORDS = web.AppKey("records", RecordFactory)
SINK = web.AppKey("sink", TurnLogSink)
TRANSCRIPTS = web.AppKey("transcripts", Transcripts)
REVIEW_STORE = web.AppKey("review_store", ReviewStore)


async def turnlog_ctx(app: web.Application) -> AsyncIterator[None]:
    """The record factory, the writer (drained on shutdown so no turn is lost) and the readers."""
    settings, engine = app[SETTINGS], app[ENGINE]
    thresholds = FlagThresholds(
        settings.low_confidence_threshold, settings.ungrounded_threshold, settings.slow_turn_ms,
        unfamiliar=settings.unfamiliar_threshold,
    )
    # Shoppers' names: spaCy's NER (seconds to load, once per process), off the event loop; what
    # the shop sells ("Dolly Girl") is never a name. An empty model name: cue words only.
    model = settings.pii_ner_model
    tagger = SpacyTagger(model) if model else None
    if tagger is not None:
        await asyncio.to_thread(tagger.warm_up)
    products = ProductWords.of(p.name for p in app[KNOWLEDGE].product_by_code.values())
    names = NameFinder(tagger, products)
    # The shop's own contact details in its answers are public, not personal: redaction keeps them.
    answers = [e.answer for e in app[KNOWLEDGE].entries.values() if e.answer]
    public = await asyncio.to_thread(public_details, answers, names)
    records = RecordFactory(thresholds, public, names)
    app[RECORDS] = records
    journal = TurnJournal(settings.journal_path, fsync=settings.journal_fsync)
    sink = TurnLogSink(TurnLog(engine), journal, listeners=[app[METRICS].observe_turn],
                       drain_on_close_s=settings.journal_drain_on_stop_s)
    await sink.start()
    app[SINK] = sink
    app[JOURNAL] = sink
    app[TRANSCRIPTS] = Transcripts(engine)
    # The auditors see turns through the record factory's redactor: one redaction path.
    app[REVIEW_STORE] = ReviewStore(engine, records.redactor)
    yield
    await sink.close()
