"""The results table: its columns, CSV files written atomically and read strictly, collecting a
sweep's job tables, and what a job directory already holds (resume). No torch here."""
