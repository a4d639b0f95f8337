# plugin-exporter and the example plugins in a small image that runs as an unprivileged user.
#
#   docker build -t plugin-exporter .
#   docker run --rm -p 10100:10100 plugin-exporter
#   curl -s localhost:10100/metrics
#
# Your own configuration and plugins: mount a directory over /etc/plugin-exporter (it must hold
# plugin-exporter.yml) and put plugins anywhere in the image, e.g. in a derived image. Python
# plugins need python3, which this image leaves out (about 30 MB); a derived image adds it:
#
#   FROM plugin-exporter
#   USER root
#   RUN apt-get update && apt-get install -y --no-install-recommends python3 \
#    && rm -rf /var/lib/apt/lists/*
#   USER 65534:65534
#
# The binary reports revision "unknown" (.git is not in the build context).

FROM rust:1-slim-bookworm AS builder
WORKDIR /src
# Only what the workspace needs to build; .dockerignore keeps target/ and .git/ out.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY plugin-protocol/ plugin-protocol/
COPY examples/rust-sysinfo/ examples/rust-sysinfo/
COPY bench/synth/ bench/synth/
COPY benches/ benches/
RUN cargo build --release --locked --workspace \
 && install -D -m 0755 target/release/plugin-exporter /out/plugin-exporter \
 && install -D -m 0755 target/release/sysinfo-plugin /out/sysinfo-plugin

# Same Debian release as the builder, so the binaries find the glibc they were linked with.
FROM debian:bookworm-slim
COPY --from=builder /out/plugin-exporter /usr/local/bin/plugin-exporter
COPY --from=builder /out/sysinfo-plugin /usr/local/lib/plugin-exporter/sysinfo-plugin
COPY examples/sh/loadavg.sh examples/python/meminfo.py /usr/local/lib/plugin-exporter/
COPY examples/container/plugin-exporter.yml /etc/plugin-exporter/plugin-exporter.yml
# nobody:nogroup. The exporter needs no privilege and writes nothing; as a non-root user it
# starts every plugin as itself. Running as root instead, it refuses plugins without `user:`.
USER 65534:65534
EXPOSE 10100
# No HEALTHCHECK: the image has no HTTP client (curl or wget would double its size). Docker
# restarts a dead exporter with --restart; Kubernetes probes /-/healthy and /-/ready itself.
ENTRYPOINT ["/usr/local/bin/plugin-exporter"]
CMD ["--config.file=/etc/plugin-exporter/plugin-exporter.yml"]
