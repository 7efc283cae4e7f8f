"""API shapes: the request fields and response objects of the hosted API, with
their validation and serialization — pure functions, no I/O.

The API and the OpenAPI document both read these definitions; nothing here touches
the store, the clock or the network.
"""
