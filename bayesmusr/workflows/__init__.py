"""workflows layer: whole analyses (one temperature, a temperature scan) with their specifications."""
