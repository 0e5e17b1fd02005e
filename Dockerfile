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
#                    They must be readable by uid 10001 (keys are mode 0600): make them with the image
#                    (`docker run --rm -v "$PWD/certs:/out" sees certs dev --out /out`, the directory
#                    owned by 10001) or chown them; the same holds for a master key file mounted in.
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
# Build the dependency graph first so source edits do not rebuild it. Cargo refuses a manifest whose
# targets' files are missing, so a stub is written for every target the manifest names: each [lib],
# [[bin]], [[bench]], [[example]] and [[test]] (its `path`, else Cargo's default path for its name) and
# the [package] `build` script, read from Cargo.toml itself, so a target added later needs no change
# here. src/main.rs and src/lib.rs are always stubbed (Cargo finds those two without a table).
COPY Cargo.toml Cargo.lock ./
RUN awk ' \
      function value() { match($0, /=[ \t]*["\047][^"\047]*["\047]/); s = substr($0, RSTART, RLENGTH); \
                         sub(/^=[ \t]*["\047]/, "", s); sub(/["\047]$/, "", s); return s }; \
      function flush() { if (kind == "") return; \
                         if (path == "" && kind == "lib") path = "src/lib.rs"; \
                         else if (path == "" && kind == "bin") path = (name == pkg ? "src/main.rs" : "src/bin/" name ".rs"); \
                         else if (path == "" && kind == "bench") path = "benches/" name ".rs"; \
                         else if (path == "" && kind == "example") path = "examples/" name ".rs"; \
                         else if (path == "" && kind == "test") path = "tests/" name ".rs"; \
                         print (kind == "lib" ? "lib" : "main"), path; kind = "" }; \
      /^[ \t]*\[/ { flush(); section = $0; sub(/#.*/, "", section); gsub(/[][ \t]/, "", section); name = ""; path = ""; \
                    if (section ~ /^(lib|bin|bench|example|test)$/) kind = section; next }; \
      section == "package" && /^[ \t]*name[ \t]*=/ { pkg = value() }; \
      section == "package" && /^[ \t]*build[ \t]*=[ \t]*["\047]/ { print "main", value() }; \
      kind != "" && /^[ \t]*name[ \t]*=/ { name = value() }; \
      kind != "" && /^[ \t]*path[ \t]*=/ { path = value() }; \
      END { flush(); print "main", "src/main.rs"; print "lib", "src/lib.rs" } \
    ' Cargo.toml > /tmp/stubs \
    && while read -r kind file; do \
         mkdir -p "$(dirname "$file")"; \
         if [ ! -e "$file" ]; then \
           if [ "$kind" = lib ]; then : > "$file"; else echo 'fn main() {}' > "$file"; fi; \
           echo "stub: $file"; \
         fi; \
       done < /tmp/stubs \
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
