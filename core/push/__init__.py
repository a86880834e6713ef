"""Pushing a stream: the visitor flow, the action runner, results and ordered concurrency."""
