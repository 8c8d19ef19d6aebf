"""The website's clickstream: events drawn from the generator's TasteModel, their validation, and
the Kinesis producer behind `fashion clicks produce`."""
