"""Read-only questions for the API, the analytics and the report: no writes here."""
