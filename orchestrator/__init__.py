"""Client Caller's orchestrator: Twilio Media Streams on one side, Triton gRPC streams on the other."""
