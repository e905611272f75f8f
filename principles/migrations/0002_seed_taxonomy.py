from django.db import migrations


def seed(apps, schema_editor):
    from principles.taxonomy import seed_taxonomy

    seed_taxonomy(
        apps.get_model("principles", "Domain"),
        apps.get_model("principles", "Subdomain"),
        apps.get_model("principles", "Task"),
    )


class Migration(migrations.Migration):
    dependencies = [("principles", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
