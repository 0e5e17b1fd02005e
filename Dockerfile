# sees — multi-stage build: a release binary in a slim Debian image, run as an unprivileged user.
#
#   docker build -t sees .
#   docker run -p 8443:8443 \
#     -v /path/to/sees.toml:/etc/sees/sees.toml:ro -e SEES_CONFIG=/etc/sees/sees.toml \
#     -v /path/to/certs:/etc/sees/certs:ro \
#     -v sees-data:/var/lib/sees \
#     -e SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR=... sees
#
# Volumes:
#   /etc/sees/certs  (read-only) server.pem, server.key and ca.pem (the client CA bundle); CRLs too
#                    when tls.crls names them. Rotated files are reloaded on SIGHUP (docker kill -s HUP).
#   /var/lib/sees    (read-write, owned by uid 10001) the SQLite store and the master key by default;
#                    with PostgreSQL (SEES__STORE__URL=postgres://…) only the master key, if it is kept
#                    as a file rather than passed as SEES_MASTER_KEY.
# Environment: every setting is SEES__SECTION__KEY (see config/sees.example.toml, copied to
# /etc/sees/sees.example.toml); the image sets the ones below. Secrets belong in the environment or
# mounted files, never in the image: SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR, SEES_MASTER_KEY (or
# the key file), the store password inside SEES__STORE__URL.
# Create the master key once with `docker run --rm -v sees-data:/var/lib/sees sees keys gen-master-key
# --out /var/lib/sees/master.key`.
#
# Ports: 8443 SEES (mutual TLS). The admin API (admin.listen, default 127.0.0.1:8444) and the ops
# listener (ops.listen, default 127.0.0.1:9090: /healthz, /readyz, /metrics) stay inside the container
# unless configured onto 0.0.0.0 (the admin API then needs admin.tls_cert/tls_key).
# Health: HEALTHCHECK runs `sees health`, a tiny HTTP GET built into the binary, so the image carries no
# curl; it probes /healthz on the ops listener (point --url elsewhere if ops.listen moves).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Build the dependency graph first so source edits do not rebuild it (stub targets for every target
# the manifest names).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/decision.rs \
    && cargo build --release --locked --bin sees
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin sees

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 sees \
    && useradd --system --uid 10001 --gid sees --home-dir /var/lib/sees --shell /usr/sbin/nologin sees \
    && mkdir -p /etc/sees/certs /var/lib/sees \
    && chown sees:sees /var/lib/sees && chmod 0700 /var/lib/sees
COPY --from=build /src/target/release/sees /usr/local/bin/sees
COPY config/sees.example.toml /etc/sees/sees.example.toml

ENV SEES__SERVER__LISTEN=0.0.0.0:8443 \
    SEES__TLS__CERT=/etc/sees/certs/server.pem \
    SEES__TLS__KEY=/etc/sees/certs/server.key \
    SEES__TLS__CLIENT_CA=/etc/sees/certs/ca.pem \
    SEES__STORE__URL=sqlite:///var/lib/sees/sees.db \
    SEES__KEYS__MASTER_KEY_FILE=/var/lib/sees/master.key \
    SEES__LOG__FORMAT=json

USER 10001:10001
WORKDIR /var/lib/sees
VOLUME ["/etc/sees/certs", "/var/lib/sees"]
EXPOSE 8443
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/sees", "health", "--url", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sees"]
CMD ["serve"]
