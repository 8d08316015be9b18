"""What a plan's state looks like from outside: the status document of docs/status-json.md
(`document`), the tool check (`tools`), and keeping the site fed with both (`sitefeed`)."""
