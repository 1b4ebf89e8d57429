from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_filepond_server.cleanup import cleanup


class Command(BaseCommand):
    help = (
        "Remove expired temporary uploads, abandoned chunked transfers, refused uploads, "
        "files or objects and rows of the temporary area that miss their other half, and the "
        "multipart uploads of interrupted stores. Safe to run while uploads are in flight, "
        "on any one app server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be removed; remove nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        report = cleanup(dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{verb} {report.total} item(s), {report.bytes} bytes: "
            f"{report.expired} expired upload(s), {report.abandoned} abandoned transfer(s), "
            f"{report.rejected} refused upload(s), {report.missing_files} row(s) without a "
            f"file, {report.orphan_files} file(s) without a row, {report.aborted_stores} "
            "interrupted store(s)."
        )
        if report.aborted_transfers:
            self.stdout.write(
                f"{verb} the S3 multipart uploads of {report.aborted_transfers} direct "
                "upload(s) that are gone."
            )
        for failure in report.failures:
            self.stderr.write(failure)
        if report.failures:
            raise CommandError(
                "Some of the cleanup could not be done (see above); the rest was done, and the "
                "next run tries again."
            )
