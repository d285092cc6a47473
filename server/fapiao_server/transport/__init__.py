"""gRPC transport: servicers (proto -> domain -> use case -> proto), converters, error mapping, the server."""
