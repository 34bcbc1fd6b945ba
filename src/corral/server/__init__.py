"""HTTP servers of corrald: XML-RPC at /RPC2, log tails, health check; Basic auth."""
