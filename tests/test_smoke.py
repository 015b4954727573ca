from portal.core.models import Role


def test_home_renders_for_signed_in_user(client, make, login):
    user = make.user(Role.AGENCY_OWNER)
    login(user)
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert user.name in response.get_data(as_text=True)
