from sparring.cli import app

app(prog_name="sparring")
