async def test_viewer(gql, token):
    body = await gql(
        "{ viewer { subject roles partner { code } } }",
        token=token("agent", partner="BANCO_ANDINO"),
    )
    assert body["data"]["viewer"]["partner"]["code"] == "BANCO_ANDINO"
