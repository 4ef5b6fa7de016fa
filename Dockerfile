# The Airflow image for docker-compose.yml: Airflow 3.3.2 plus ptp-pipeline's dependencies.
# The project itself is mounted at /opt/ptp (read-only) and found through PYTHONPATH.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 pyproject.toml README.md /opt/ptp-build/
COPY --chown=airflow:0 ptp_pipeline /opt/ptp-build/ptp_pipeline
RUN pip install --no-cache-dir /opt/ptp-build
