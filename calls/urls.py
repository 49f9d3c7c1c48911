from django.urls import path

from calls import views

urlpatterns = [
    path("<slug:slug>/", views.room, name="room"),
]
