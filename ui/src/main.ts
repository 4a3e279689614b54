import "./lib/locale-guard";
import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { isDesktop, takeTokenFromUrl } from "./lib/api";

// Take the token out of the address bar before anything else runs (and before any screenshot).
const token = isDesktop() ? "desktop" : takeTokenFromUrl();

mount(App, { target: document.getElementById("app")!, props: { hasToken: token !== null } });
