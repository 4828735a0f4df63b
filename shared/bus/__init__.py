"""Kafka plumbing shared by the services: broker factory, consumer with dead letters, outbox relay."""
