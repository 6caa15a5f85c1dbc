from speakup import audit


def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "never records" in response.get_data(as_text=True)


def test_login_with_totp_reaches_admin(login_as, client, session):
    login_as("admin")
    assert client.get("/admin/").status_code == 200
    assert audit.verify(session).ok
