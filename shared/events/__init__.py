"""The event catalogue, envelope and topic table shared by every learnstreet service."""

from . import catalogue, topics
from .envelope import Envelope, EventData, envelop

__all__ = ["Envelope", "EventData", "catalogue", "envelop", "topics"]
