-- Databases of a midex deployment: the catalog and Airflow's metadata (docker-compose runs this
-- once on an empty volume; infra/service.sh creates them when missing on an existing server).
CREATE DATABASE midex;
CREATE DATABASE airflow;
