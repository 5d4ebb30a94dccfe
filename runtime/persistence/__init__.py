"""Durable state of the charger in one SQLite database on the data partition.

Transactions and their meter samples (billing data), the OCPP authorization cache and the event
log. Everything here is synchronous and thread-safe; async services call it via asyncio.to_thread.
"""
