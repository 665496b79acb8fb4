# msgrelay's image for compose.yaml: this checkout (not PyPI), with the server, PostgreSQL and Celery
# extras and every plugin under plugins/. Build: docker build -t msgrelay .
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY plugins ./plugins
RUN pip install --no-cache-dir '.[server,postgres,celery]' ./plugins/*/ \
 && useradd --system --home-dir /var/lib/msgrelay --create-home msgrelay
# The home holds beat's schedule (and, without MSGRELAY_LEDGER_URL, the SQLite ledger).
ENV MSGRELAY_HOME=/var/lib/msgrelay
USER msgrelay
WORKDIR /var/lib/msgrelay
ENTRYPOINT ["msgrelay"]
