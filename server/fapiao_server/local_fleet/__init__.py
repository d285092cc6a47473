"""A fleet on one machine behind the shipped Envoy.

The shipped Envoy configuration (envoy.yaml) and its drain step (drain.sh) live here, inside the package, so an
installed `fapiao` runs exactly what deploy/envoy ships (deploy/envoy links to these files)."""
