"""The application factory: the web kernel, the shared serving resources, the features.

This module only composes. The kernel (``bot/web``) holds the middleware, sign-in, the OpenAPI
document, health and metrics and the database; the shared serving resources (``bot/serving``)
start in the order listed, each built with every collaborator it needs, all of them built by
an earlier context; the features are sub-apps that start after them and close before them.
Shutdown runs in reverse, so the turn-log writer drains before the database closes.
"""

from __future__ import annotations

from aiohttp import web

from bot.catalogue import app as catalogue
from bot.channels import app as channels
from bot.channels import rasa_http
from bot.channels.ids import ConversationIds, pseudonym_key
from bot.channels.socketio import SocketIOChannel
from bot.engine.state_backup import state_key
from bot.generation.service import Generator
from bot.models import app as models
from bot.rasa.api_auth import ApiAuth
from bot.review import app as review
from bot.serving.actions import actions_ctx
from bot.serving.desk import desk_ctx
from bot.serving.encoder import encoder_ctx
from bot.serving.engine import corrections_ctx, engine_ctx
from bot.serving.knowledge import knowledge_ctx, rasa_ctx
from bot.serving.models import generator_ctx, understanding_ctx
from bot.serving.reminders import reminders_ctx
from bot.serving.schema import TABLES
from bot.serving.turnlog import turnlog_ctx
from bot.staff import app as staff
from bot.web.kernel import create_kernel, mount
from bot.web.keys import STATE_KEY
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics


def create_app(settings: Settings, *, generator: Generator | None = None) -> web.Application:
    """Build the application; resources load in order at start-up and close in reverse.

    ``generator`` replaces the GPT-2 checkpoint of ``settings`` (any object with the
    ``Generator`` protocol).
    """
    app = create_kernel(settings, ShopbotMetrics(), TABLES)
    key = pseudonym_key(settings.secret(settings.pseudonym_secret_env), settings.var_dir)
    ids = ConversationIds(key)
    app[STATE_KEY] = state_key(key)
    # The widget's socket.io channel: the handoff desk pushes staff replies through it, and the
    # channels feature serves it.
    channel = SocketIOChannel(ids, max_message_chars=settings.max_message_chars,
                              max_body_bytes=settings.max_body_bytes, redis_url=settings.redis_url)
    app.cleanup_ctx.extend([
        encoder_ctx,
        rasa_ctx,
        knowledge_ctx,
        understanding_ctx,
        generator_ctx(generator),
        actions_ctx,
        turnlog_ctx,
        corrections_ctx,
        desk_ctx(channel),
        engine_ctx,
        reminders_ctx(channel),
    ])
    mount(app, channels.create_feature(channel, ids))
    # Rasa's HTTP API, on the same conversations as the channels; closed unless a secret is set.
    rasa_auth = ApiAuth(settings.secret(settings.rasa_api_token_env),
                        settings.secret(settings.rasa_api_jwt_secret_env),
                        max_age_s=settings.rasa_api_jwt_max_age_s)
    mount(app, rasa_http.create_feature(ids, rasa_auth, channel))
    mount(app, staff.create_feature())
    mount(app, review.create_feature())
    mount(app, models.create_feature(settings, generator_pinned=generator is not None))
    mount(app, catalogue.create_feature())
    return app
