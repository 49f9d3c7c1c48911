"""Pages every site has: the icon, and friendly pages for a wrong address and for a server error."""

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import path

pytestmark = pytest.mark.django_db


def broken_view(request):
    raise RuntimeError("boom")


urlpatterns = [path("broken/", broken_view)]


def test_favicon_is_linked_and_answered():
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon_url = response["Location"]
    assert icon_url.endswith("img/favicon.svg")
    assert "max-age=86400" in response["Cache-Control"]
    icon = finders.find("img/favicon.svg")
    with open(icon, encoding="utf-8") as handle:
        assert handle.read().startswith("<svg")
    page = client.get("/accounts/login/").content.decode()
    assert f'<link rel="icon" href="{icon_url}" type="image/svg+xml">' in page


def test_unknown_address_gives_a_friendly_404_in_the_site_frame():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Nothing here" in body and "Check the address" in body
    assert 'href="/"' in body and 'class="topbar"' in body


def test_chinese_404():
    response = Client(headers={"accept-language": "zh-Hans"}).get("/no/such/page/")
    assert "此页面不存在" in response.content.decode()


def test_server_error_gives_a_friendly_500_not_a_traceback(settings):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.get("/broken/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "try again" in body
    assert "RuntimeError" not in body and "boom" not in body
    assert "css/parley.css" in body
