"""The web kernel: middleware, body parsing, the auth guard, the OpenAPI document, health and
metrics, and the mounting of feature sub-apps. It knows HTTP, never a shop feature."""
