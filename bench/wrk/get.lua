-- GET with the token header (wrk -s bench/wrk/get.lua URL; TOKEN in the environment).
wrk.headers["token"] = os.getenv("TOKEN")
