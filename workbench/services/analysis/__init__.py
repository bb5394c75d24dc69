"""Detector runs as a service: ``run`` checks, queues and stores what the detectors say for an
account; ``child`` is the limited child process that decodes and analyses the bytes."""

__all__: list[str] = []
