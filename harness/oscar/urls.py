"""The sample shop's URLs: Oscar's storefront, django-oscar-api under /api/, product images."""

from django.apps import apps
from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("api/", include("oscarapi.urls")),
    # Oscar's templates link to Django's language switcher.
    path("i18n/", include("django.conf.urls.i18n")),
    # Product images are served by the shop itself (no separate web server in the tests).
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
