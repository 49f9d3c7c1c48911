"""Create the demo admin, two demo users and a demo room, and print how to sign in."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from calls.models import Room

DEMO_USERS = [
    ("admin", "Admin", "parley-admin", True),
    ("alice", "Alice", "parley-alice", False),
    ("bob", "Bob", "parley-bob", False),
]


class Command(BaseCommand):
    help = "Create demo users (for `make run` only) and print their credentials."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (never in production).")

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "demo_users creates accounts with published passwords, so it runs only with DEBUG on; "
                "pass --force if you really mean it."
            )
        for username, display_name, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"display_name": display_name, "email": f"{username}@example.com"}
            )
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = staff
                user.save()
        Room.objects.get_or_create(
            slug="demo", defaults={"name": "Demo room", "owner": User.objects.get(username="admin")}
        )
        self.stdout.write("\nParley demo accounts (development only):")
        for username, _, password, staff in DEMO_USERS:
            role = "admin" if staff else "user "
            self.stdout.write(f"  {role}  username: {username:<6} password: {password}")
        self.stdout.write("Open http://127.0.0.1:8000/ and sign in; the demo room is /rooms/demo/\n")
