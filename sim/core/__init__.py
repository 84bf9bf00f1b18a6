"""The bottom layer: the Bradley-Terry link and its loss, seeding and common random numbers,
input validation, checkpoint schedules. It imports nothing else of the project."""
