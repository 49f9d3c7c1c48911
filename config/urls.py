from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from calls import occupancy_views
from calls import views as call_views
from config import views as site_views

urlpatterns = [
    path("", call_views.lobby, name="lobby"),
    path("healthz", call_views.healthz, name="healthz"),
    path("readyz", call_views.readyz, name="readyz"),
    path("favicon.ico", site_views.favicon, name="favicon"),
    path("accounts/", include("accounts.urls")),
    path("rooms/", include("calls.urls")),
    path("calls/", call_views.call_history, name="call-history"),
    path("api/ice-servers/", call_views.ice_servers, name="ice-servers"),
    path("api/occupancy/", occupancy_views.room_occupancy, name="room-occupancy"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["calls"]), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]
