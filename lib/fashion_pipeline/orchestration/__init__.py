"""Running the nightly jobs where users run them: EMR steps from Airflow or `fashion emr`, or
spark-submit on this machine for the local target. No Airflow import here: the DAG files in dags/
import it, the rest works without it."""
