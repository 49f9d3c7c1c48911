from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("password_change/", views.PasswordChange.as_view(), name="password_change"),
    path("", include("django.contrib.auth.urls")),
]
