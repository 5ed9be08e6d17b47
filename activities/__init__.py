"""The support desk's activities: its shop tools (each `@tool` runs as Tether's tool
activity) over the demo shop's SQLite database, and the refund policy they share with
the refund pipeline."""
