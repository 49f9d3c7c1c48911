from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from calls import views as call_views

urlpatterns = [
    path("", call_views.lobby, name="lobby"),
    path("healthz", call_views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("rooms/", include("calls.urls")),
    path("calls/", call_views.call_history, name="call-history"),
    path("api/ice-servers/", call_views.ice_servers, name="ice-servers"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["calls"]), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]
