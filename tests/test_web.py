"""The web page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium; no
browser is downloaded): a provider signs in with a token, drops a file with a planted error and
sees the finding with its row; a consumer opens a table and sees the chart render, then downloads.
The upload is processed by the service's embedded worker on the test run's Spark session; the
release the consumer browses is three small files processed and published by midex.stages."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.service_support import publish_release, serve

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
]  # fmt: skip
PLANTED = (
    "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
    "PHL,REMIT_IN,2021,36.7,9\n"
    "Phillipines,GDP,2021,394.1,9\n"  # row 3: a misspelt country
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(spark, tmp_path_factory: pytest.TempPathFactory):
    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.tokens import issue_token
    from midex.storage.catalog import ProviderKind

    app = create_app(Settings(home=tmp_path_factory.mktemp("web")), spark=spark)
    ctx = app.state.ctx
    ctx.catalog.add_provider("PH_PSA", "Philippine Statistics Authority", ProviderKind.national, ["PHL"])  # fmt: skip
    tokens = {
        "ph": issue_token(ctx.catalog, "provider", "PH_PSA", "PH_PSA")[0],
        "consumer": issue_token(ctx.catalog, "consumer", "researcher")[0],
    }
    # published before the server (and its worker) starts: the worker processes only the upload
    publish_release(ctx, spark, tmp_path_factory.mktemp("release-files"))
    with serve(app) as url:
        yield {"url": url, "tokens": tokens, "ctx": ctx}


def _wait(driver, condition, timeout: float = 30, what: str = "the page"):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the page redraws tables and charts as data arrives: a vanished element means "not yet"
    wait = WebDriverWait(
        driver, timeout, poll_frequency=0.3, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(lambda d: condition(d), message=f"waiting for {what}")


def _sign_in(driver, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    field = _wait(driver, lambda d: d.find_element(By.ID, "token"))
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    _wait(driver, lambda d: "(" in d.find_element(By.ID, "who").text, what="signed in")


def test_provider_drops_a_file_and_sees_the_planted_error(browser, site, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, site["url"], site["tokens"]["ph"])
    assert "provider" in browser.find_element(By.ID, "who").text
    assert browser.find_element(By.ID, "provider").is_displayed()
    path = tmp_path / "philippines_2021.csv"
    path.write_text(PLANTED, "utf-8")
    file_input = browser.find_element(By.ID, "file")
    browser.execute_script("arguments[0].hidden = false", file_input)  # the drop zone's picker
    file_input.send_keys(str(path))

    def findings(d):
        rows = d.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
        return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows] or None

    rows = _wait(browser, findings, timeout=900, what="the findings table")
    # columns: row, sheet, column, value, severity, rule, what to do
    planted = [r for r in rows if r[0] == "3" and r[2] == "REF_AREA"]
    assert planted and planted[0][3] == "Phillipines" and planted[0][4] == "error"
    assert "rejected" in browser.find_element(By.ID, "findings-title").text
    history = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    cells = [td.text for td in history[0].find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "philippines_2021.csv" and cells[3] == "rejected"
    # nothing of it reached the observations: the catalog agrees with the page
    [sub] = [s for s in site["ctx"].catalog.submissions() if s.file_name == path.name]
    assert sub.status == "rejected" and sub.errors == sum(1 for r in rows if r[4] == "error")


def test_consumer_filters_a_table_and_sees_the_charts(browser, site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(browser, site["url"], site["tokens"]["consumer"])
    assert not browser.find_element(By.ID, "provider").is_displayed()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table option")) >= 2, what="tables")  # fmt: skip
    Select(browser.find_element(By.ID, "table")).select_by_value("observations")
    browser.find_element(By.ID, "f-area").send_keys("MEX,PHL")
    browser.find_element(By.ID, "f-indicator").send_keys("REMIT_IN")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()

    _wait(browser, lambda d: d.find_element(By.ID, "count").text == "rows 1–4 of 4", what="filtered rows")  # fmt: skip
    assert Select(browser.find_element(By.ID, "measure")).first_selected_option.text == "REMIT_IN"

    def line_series(d):
        paths = d.find_elements(By.CSS_SELECTOR, "#chart svg[data-kind=line] path.series")
        return sorted(p.get_attribute("data-area") for p in paths) or None

    assert _wait(browser, line_series, what="a line per country") == ["MEX", "PHL"]
    browser.find_element(By.CSS_SELECTOR, "input[name=kind][value=bar]").click()
    Select(browser.find_element(By.ID, "year")).select_by_value("2019")

    def bars(d):
        rects = d.find_elements(By.CSS_SELECTOR, "#chart svg[data-kind=bar] rect.bar")
        return {r.get_attribute("data-area"): float(r.get_attribute("height")) for r in rects}

    heights = _wait(browser, bars, what="a bar per country")
    assert sorted(heights) == ["MEX", "PHL"]
    assert heights["MEX"] > heights["PHL"]  # 39.02 bn against 33.5 bn in 2019
    browser.find_element(By.ID, "dl-csv").click()
    target = browser.downloads / "observations-release1.csv"

    def downloaded(_):
        return target.exists() and target.stat().st_size > 0

    _wait(browser, downloaded, what="the CSV download")
    text = target.read_text("utf-8")
    assert text.splitlines()[0].startswith('"REF_AREA"') and text.count("\n") == 5
    assert browser.find_element(By.ID, "message").text == ""


def test_the_page_refuses_a_wrong_token(browser, site) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site["url"])
    browser.execute_script("sessionStorage.clear()")
    browser.get(site["url"])
    browser.find_element(By.ID, "token").send_keys("mdx_not-a-token")
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    message = _wait(browser, lambda d: d.find_element(By.ID, "message").text, what="the refusal")
    assert "token not recognised" in message
    assert not browser.find_element(By.ID, "provider").is_displayed()
    assert httpx.get(f"{site['url']}/health").status_code == 200
