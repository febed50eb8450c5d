"""Locks, semaphores and elections, written once over the backend protocol."""
