from django.db import migrations


def add(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="Evaluator")


def remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Evaluator").delete()


class Migration(migrations.Migration):
    dependencies = [("weaver_site", "0005_job_worker_cursor")]

    operations = [migrations.RunPython(add, remove)]
