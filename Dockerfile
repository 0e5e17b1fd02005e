# sees — multi-stage build: a release binary in a slim Debian image, run as an unprivileged user.
#
#   docker build -t sees .
#   docker run -p 8443:8443 \
#     -v /path/to/sees.toml:/etc/sees/sees.toml:ro \
#     -v /path/to/certs:/etc/sees/certs:ro \
#     -v sees-data:/var/lib/sees \
#     -e SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR=... sees
#
# The defaults below listen on all interfaces and expect certificates in /etc/sees/certs and the store
# and master key in /var/lib/sees (create the key with `docker run ... sees keys gen-master-key --out
# /var/lib/sees/master.key`, or pass SEES_MASTER_KEY).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Build the dependency graph first so source edits do not rebuild it.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked || true
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin sees

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/sees --shell /usr/sbin/nologin sees \
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

USER sees
WORKDIR /var/lib/sees
VOLUME ["/etc/sees/certs", "/var/lib/sees"]
EXPOSE 8443
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sees"]
CMD ["serve"]
