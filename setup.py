"""fashion-pipeline: batch, streaming and recommendations for an online fashion store on AWS."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithConf(build_py):
    """Ship conf/*.yaml inside the wheel so EMR nodes load the same configuration files."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "fashion_pipeline" / "conf"
        target.mkdir(parents=True, exist_ok=True)
        for yaml_file in (ROOT / "conf").glob("*.yaml"):
            shutil.copy(yaml_file, target / yaml_file.name)


setup(
    name="fashion-pipeline",
    version="0.1.0",
    description=__doc__,
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    include_package_data=True,
    package_data={"fashion_pipeline": ["sql/**/*.sql", "ddl/*.sql", "web/templates/*.html"]},
    cmdclass={"build_py": BuildWithConf},
    # What a node needs on top of what EMR provides. The EMR bootstrap installs exactly this list,
    # pinned by emr/bootstrap/constraints.txt (tests/unit/test_packaging.py keeps the two in step).
    # pyspark is not in it: EMR brings Spark (and its pyspark); locally it is the `local` extra.
    install_requires=[
        "pyarrow>=15",
        # EMR ships pandas 2.x; pandas 3 changes string dtypes under us.
        "pandas>=2.0,<3",
        "numpy>=1.26",
        # Faker supplies the generated names and descriptions: same seed, same bytes needs the same Faker.
        "faker==40.54.0",
        "pyyaml>=6",
        "pydantic>=2.6,<3",
        "boto3>=1.34",
        "tqdm>=4.66",
        # `fashion store` (migrations, simulator) talks to PostgreSQL; Spark jobs use JDBC instead.
        "psycopg[binary]>=3.1",
        # The real-time Lambda's partial batch responses; pure Python, bundled into its zip by
        # `fashion lambda package` (3.x works against moto, PLATFORM.md).
        "aws-lambda-powertools>=3.0,<4",
        # data_quality parses the Athena SQL files (the rules' single source) to run them on Spark.
        "sqlglot>=25",
        # Recommender runs are recorded in MLflow (recs/tracking.py). The client only: full `mlflow`
        # adds the server and its UI (flask, sqlalchemy, alembic, scipy, scikit-learn, matplotlib...),
        # which a node logging to a tracking server does not use.
        "mlflow-skinny>=3.18,<4",
    ],
    extras_require={
        # EMR emr-spark-8.0.0 runs Spark 4.0.2: local runs must match the cluster.
        # The local MLflow store is SQLite (conf/local.yaml tracking.uri: null), a backend
        # mlflow-skinny leaves out.
        "local": ["pyspark>=4.0.2,<4.1", "sqlalchemy>=1.4,<3", "alembic>=1.8,!=1.10.0,<2"],
        # The DAGs run on MWAA (Airflow 3); locally `fashion airflow test` runs them with dag.test().
        "airflow": [
            "apache-airflow>=3.3,<3.4",
            "apache-airflow-providers-amazon>=9.30",
            "apache-airflow-providers-slack>=9.0",
        ],
        "dev": [
            "cfn-lint>=1.50",
            "parliament>=1.6",
            "pytest>=8",
            "pytest-timeout>=2.3",
            "chispa>=0.10",
            "moto[server]>=5.0,<6",
            "duckdb>=1.1",
            "sqlglot>=25",
            "psycopg[binary]>=3.1",
        ],
        # `fashion web` (the storefront) and its tests in a real browser: Playwright drives Debian's
        # chromium (`make system-deps`), never a browser of its own.
        "web": ["fastapi>=0.110", "uvicorn>=0.29", "jinja2>=3.1", "httpx>=0.27", "playwright>=1.45"],
        "bench": ["implicit>=0.7", "duckdb>=1.1", "scipy>=1.11"],
    },
    entry_points={"console_scripts": ["fashion=fashion_pipeline.cli:main"]},
)
