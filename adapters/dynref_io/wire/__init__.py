"""The wire format: frames and their type tags, the compiled msgpack schema, the codec."""
