from django.urls import path

from calls import room_views, views

urlpatterns = [
    path("<slug:slug>/", views.room, name="room"),
    path("<slug:slug>/settings/", room_views.room_settings, name="room-settings"),
    path("<slug:slug>/settings/people/", room_views.room_people, name="room-people"),
    path("<slug:slug>/settings/invites/", room_views.room_invites, name="room-invites"),
    path("<slug:slug>/settings/close/", room_views.room_close_view, name="room-close"),
    path("<slug:slug>/invite/<str:token>/", room_views.room_invite, name="room-invite"),
]
