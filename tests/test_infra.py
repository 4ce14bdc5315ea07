"""infra/: what can be checked without starting it here.

The single-node scripts are checked for syntax and for agreeing with settings; the docker-compose
file and the Kubernetes manifests cannot start on this machine (no container runtime, no
cluster), so they are checked to parse and to agree with the repository: every MIDEX_* variable
is a real setting, every image is the one image the Dockerfile builds, every path inside the
image is one the Dockerfile creates, and the hadoop-aws jar matches pyspark's Hadoop.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

INFRA = REPO / "infra"
COMPOSE = INFRA / "docker-compose.yml"
K8S = sorted((INFRA / "kubernetes").glob("*.yaml"))
DOCKERFILE = INFRA / "docker" / "Dockerfile"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _settings_fields() -> set[str]:
    from midex.contract.settings import Settings

    return {f"MIDEX_{name.upper()}" for name in Settings.model_fields}


def _infra_texts() -> dict[Path, str]:
    return {p: p.read_text() for p in INFRA.rglob("*") if p.is_file()}


def test_every_yaml_file_parses() -> None:
    files = [COMPOSE, *K8S]
    assert [p.name for p in K8S] == [  # the manifests docs/operations.md walks through
        "airflow-values.yaml", "midex-config.yaml", "namespace.yaml",
        "spark-operator-midex-job.yaml", "spark-rbac.yaml",
    ]  # fmt: skip
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, path
        if path.parent.name == "kubernetes" and path.name != "airflow-values.yaml":
            for doc in docs:
                assert {"apiVersion", "kind", "metadata"} <= set(doc), (path.name, doc)
                if doc["kind"] != "Namespace":
                    assert doc["metadata"]["namespace"] == "midex", (path.name, doc["kind"])


def test_every_midex_variable_in_infra_is_a_setting() -> None:
    known = _settings_fields()
    used: set[str] = set()
    for path, text in _infra_texts().items():
        for name in re.findall(r"\bMIDEX_[A-Z0-9_]+", text):
            used.add(name)
            assert name in known, f"{path.relative_to(REPO)} names {name}, not in settings.py"
    assert {"MIDEX_CATALOG_URL", "MIDEX_SPARK_MASTER", "MIDEX_HOME"} <= used


def test_every_image_is_the_one_midex_image_at_the_package_version() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    images = {s["image"] for s in compose["services"].values() if "image" in s}
    assert images == {f"midex:{VERSION}", "postgres:16"}
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "infra/docker/Dockerfile", name
            assert (COMPOSE.parent / service["build"]["context"]).resolve() == REPO
    k8s_text = "\n".join(p.read_text() for p in K8S)
    refs = set(re.findall(r"registry\.example\.org/midex:([\w.]+)", k8s_text))
    values = yaml.safe_load((INFRA / "kubernetes" / "airflow-values.yaml").read_text())
    refs.add(values["images"]["airflow"]["tag"])
    assert refs == {VERSION}


def test_paths_inside_the_image_are_ones_the_dockerfile_creates() -> None:
    dockerfile = DOCKERFILE.read_text()
    copied = {
        f"/opt/midex/{dest.strip('./')}"
        for src, dest in re.findall(r"^COPY (\S+) (\S+)$", dockerfile, re.M)
        if (REPO / src).exists()
    }
    assert {"/opt/midex/src", "/opt/midex/schemas", "/opt/midex/dags", "/opt/midex/jobs"} <= copied
    mounted = {"/opt/midex/spark-conf"}  # the spark-conf ConfigMap, mounted by the chart values
    for path, text in _infra_texts().items():
        for ref in set(re.findall(r"/opt/midex/[\w./-]+", text)):
            top = "/".join(ref.split("/")[:4])
            assert top in copied | mounted, f"{path.relative_to(REPO)}: {ref} is not in the image"
            if top in copied:  # the repository path the image copies must exist
                assert (REPO / ref.removeprefix("/opt/midex/")).exists(), (path.name, ref)


def test_hadoop_aws_matches_the_hadoop_that_pyspark_ships() -> None:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    (client,) = jars.glob("hadoop-client-api-*.jar")
    hadoop = client.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    dockerfile = DOCKERFILE.read_text()
    assert f"ARG HADOOP_AWS_VERSION={hadoop}" in dockerfile
    bundle = re.search(r"ARG AWS_SDK_BUNDLE_VERSION=(\S+)", dockerfile).group(1)
    spark_conf = (INFRA / "kubernetes" / "midex-config.yaml").read_text()
    assert f"hadoop-aws-{hadoop}.jar" in spark_conf and f"bundle-{bundle}.jar" in spark_conf
    assert "org.apache.hadoop.fs.s3a.S3AFileSystem" in spark_conf


def test_kubernetes_pieces_refer_to_each_other() -> None:
    docs = [d for p in K8S for d in yaml.safe_load_all(p.read_text()) if d and "kind" in d]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    values = yaml.safe_load((INFRA / "kubernetes" / "airflow-values.yaml").read_text())
    assert values["executor"] in (
        "KubernetesExecutor",
        "CeleryExecutor",
        "CeleryKubernetesExecutor",
    )
    assert ("ServiceAccount", values["workers"]["serviceAccount"]["name"]) in names
    for volume in values["workers"]["extraVolumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in names
        if "persistentVolumeClaim" in volume:
            assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
    for ref in yaml.safe_load(values["extraEnvFrom"]):
        if "configMapRef" in ref:
            assert ("ConfigMap", ref["configMapRef"]["name"]) in names
    env = {e["name"]: e for e in yaml.safe_load(values["extraEnv"])}
    assert env["SPARK_LOCAL_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    config = next(d for d in docs if d["metadata"]["name"] == "midex-env")["data"]
    assert config["MIDEX_SPARK_MASTER"].startswith("k8s://")
    assert Path(config["MIDEX_LAKE"]).is_relative_to("/data")  # on the mounted lake volume
    assert config["SPARK_CONF_DIR"] == "/opt/midex/spark-conf"
    spark_conf = next(d for d in docs if d["metadata"]["name"] == "spark-conf")["data"]
    conf = dict(
        line.split(None, 1)
        for line in spark_conf["spark-defaults.conf"].splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert ("ServiceAccount", conf["spark.kubernetes.authenticate.serviceAccountName"]) in names
    claim = conf["spark.kubernetes.executor.volumes.persistentVolumeClaim.lake.options.claimName"]
    assert ("PersistentVolumeClaim", claim) in names


def test_compose_runs_the_four_airflow_components_and_spark_against_one_settings_set() -> None:
    from midex.contract.settings import Settings

    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    commands = {name: s.get("command") for name, s in services.items()}
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert commands[f"airflow-{component}"][:2] == ["airflow", component]
    master = services["spark-master"]["command"]
    worker = services["spark-worker"]["command"]
    assert "org.apache.spark.deploy.master.Master" in master
    assert "org.apache.spark.deploy.worker.Worker" in worker
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    port = master[master.index("--port") + 1]
    assert env["MIDEX_SPARK_MASTER"] == f"spark://spark-master:{port}" == worker[2]
    # the settings the containers get are valid settings
    settings = Settings(**{k.removeprefix("MIDEX_").lower(): v for k, v in env.items()
                           if k.startswith("MIDEX_")})  # fmt: skip
    assert str(settings.home) == "/data/midex" and settings.catalog_url.endswith("/midex")
    # the driver (scheduler) advertises its own fixed address
    ip = services["airflow-scheduler"]["networks"]["default"]["ipv4_address"]
    assert env["SPARK_LOCAL_IP"] == ip


# ---------------------------------------------------------------- the single-node service


def _service_env() -> dict[str, str]:
    """infra/service.env as the script sees it (sourced by bash, with REPO and SERVICE_DIR)."""
    script = (
        f"set -a; REPO={shlex.quote(str(REPO))}; SERVICE_DIR=/srv/midex-service; "
        f". {shlex.quote(str(INFRA / 'service.env'))}; env -0"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def test_service_scripts_are_valid_bash() -> None:
    for script in (INFRA / "service.sh", INFRA / "trial.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["bash", str(INFRA / "service.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_the_trial_never_starts_the_service_outside_its_network_namespace() -> None:
    """infra/trial.py is run by infra/trial.sh inside `unshare -n`; on its own it refuses."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRIAL_IN_NETNS"}
    proc = subprocess.run(
        [sys.executable, str(INFRA / "trial.py")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "network namespace" in proc.stderr


def test_service_env_keeps_everything_on_loopback_under_one_folder() -> None:
    from midex.contract.settings import Settings

    env = _service_env()
    settings = Settings(
        home=env["MIDEX_HOME"],
        catalog_url=env["MIDEX_CATALOG_URL"],
        spark_master=env["MIDEX_SPARK_MASTER"],
    )
    assert settings.catalog_url.startswith("postgresql+psycopg://") and "127.0.0.1:5432" in (
        settings.catalog_url
    )
    assert env["MIDEX_SPARK_MASTER"] == f"spark://127.0.0.1:{env['SPARK_MASTER_PORT']}"
    assert env["SPARK_LOCAL_IP"] == env["AIRFLOW_API_HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "127.0.0.1:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert set(env["PG_DATABASES"].split()) == {"midex", "airflow"}
    # the private PostgreSQL (PG_EMBEDDED) lives with the service and serves the same URLs
    assert env["PG_EMBEDDED"] in ("auto", "yes", "no")
    assert env["PG_DATA"] == "/srv/midex-service/postgres"
    address = f"{env['PG_HOST']}:{env['PG_PORT']}"
    for key in ("PG_ADMIN_URL", "MIDEX_CATALOG_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        assert f"@{address}/" in env[key], key
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert Path(env["SPARK_CONF_DIR"], "spark-defaults.conf").is_file()
    for key in ("SPARK_LOG_DIR", "AIRFLOW__LOGGING__BASE_LOG_FOLDER"):
        assert env[key].startswith("/srv/midex-service/logs/"), key


def test_airflow_accepts_the_service_configuration(tmp_path: Path) -> None:
    """Airflow itself reads the service's settings (no database needed to read them)."""
    import os
    import sys

    env = dict(os.environ)
    env.update(_service_env())
    env["AIRFLOW_HOME"] = str(tmp_path)
    code = (
        "from airflow.configuration import conf\n"
        "for s, k in [('core', 'executor'), ('core', 'dags_folder'),"
        " ('database', 'sql_alchemy_conn'), ('logging', 'base_log_folder')]:\n"
        "    print(conf.get(s, k))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-4:] == [
        "LocalExecutor",
        str(REPO / "dags"),
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "/srv/midex-service/logs/airflow",
    ]


def test_makefile_up_and_down_run_the_service_script() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^up:.*\n\t.*infra/service\.sh up", makefile, re.M)
    assert re.search(r"^down:.*\n\t.*infra/service\.sh down", makefile, re.M)


@pytest.mark.parametrize("doc", ["docs/operations.md", "infra/README.md"])
def test_docs_say_what_was_not_started_here(doc: str) -> None:
    text = (REPO / doc).read_text()
    assert "make up" in text and "docker-compose.yml" in text
    assert re.search(r"not (started|run|applied)", text)
